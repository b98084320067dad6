// Connection limits for tcpserver: the tcpserver-limits patch's MAXLOAD, MAXCONNIP, MAXCONNC and
// DIEMSG, a per-address rate (MAXRATEIP), and the decision that admits a connection (counting it
// until it is released) or refuses it with the reason for the log.
import { limitKeys } from './address';
import { DelayedCloser } from './closer';
import { Admission, ConcurrencyCounts, ConcurrencyTable, KeyCount } from './concurrency';
import { currentLoad } from './load';
import { DEFAULT_RATE_ENTRIES, RateTable, RateUse } from './rate';
import { formatRate, LimitSettings } from './settings';

export type { Admission, ConcurrencyCounts, KeyCount } from './concurrency';
export type { LimitKeys } from './address';
export type { Rate, RateUse } from './rate';
export type { LimitSettings } from './settings';
export { limitKeys, limitKeyText } from './address';
export { DelayedCloser } from './closer';
export { currentLoad, parseLoadavg } from './load';
export { RateTable } from './rate';
export {
  formatRate,
  LIMIT_VARIABLES,
  limitsAnything,
  NO_LIMITS,
  parseRate,
  settingsFromEnvironment,
  withRuleVariables,
} from './settings';

export type RefusalReason = 'load' | 'ip' | 'net' | 'rate';

export interface Admitted {
  readonly admit: true;
  readonly admission: Admission;
}

export interface Refused {
  readonly admit: false;
  readonly reason: RefusalReason;
  /** for the `tcpserver: deny` line, with its leading space: ` MAXCONNIP:5` */
  readonly suffix: string;
  /** DIEMSG of the connection ('' for none) */
  readonly dieMsg: string;
}

export type LimitDecision = Admitted | Refused;

export interface LimitsStatus extends ConcurrencyCounts {
  /** addresses the rate limiter remembers */
  readonly rateEntries: number;
  /** refused clients waiting out their delay */
  readonly delayed: number;
}

/** The entries behind the counts, for an operator: the busiest and the nearest to their rate. */
export interface LimitsDetail {
  readonly addresses: readonly KeyCount[];
  readonly networks: readonly KeyCount[];
  readonly rates: readonly RateUse[];
}

export type RefusalCounts = Record<RefusalReason, number>;

export interface LimitsOptions {
  /** load × 100 now (default: /proc/loadavg) */
  readonly load?: () => number;
  /** clock in ms for the rate limiter */
  readonly now?: () => number;
  readonly rateEntries?: number;
  readonly closeDelayMs?: number;
  readonly maxDelayed?: number;
}

function refused(reason: RefusalReason, suffix: string, s: LimitSettings): Refused {
  return { admit: false, reason, suffix, dieMsg: s.dieMsg };
}

export class ConnectionLimits {
  private readonly table = new ConcurrencyTable();
  private readonly rates: RateTable;
  private readonly load: () => number;
  /** closing refused clients, with the patch's one-second delay, bounded */
  readonly closer: DelayedCloser;
  /** connections refused since start, by reason */
  readonly refusals: RefusalCounts = { load: 0, ip: 0, net: 0, rate: 0 };

  constructor(opts: LimitsOptions = {}) {
    this.load = opts.load ?? (() => currentLoad());
    this.rates = new RateTable(opts.rateEntries ?? DEFAULT_RATE_ENTRIES, opts.now);
    this.closer = new DelayedCloser(opts.closeDelayMs, opts.maxDelayed);
  }

  /**
   * Admit or refuse a connection from `remoteIp` under `s`. Counts are of connections admitted and
   * not yet released, this one not included, so a limit of N admits N at once. In the patch's
   * order: load first; then the address and its network, the address's reason winning when both
   * are full; then the rate, which counts only connections that passed everything else.
   */
  decide(remoteIp: string, s: LimitSettings): LimitDecision {
    const d = this.check(remoteIp, s);
    if (!d.admit) this.refusals[d.reason]++;
    return d;
  }

  private check(remoteIp: string, s: LimitSettings): LimitDecision {
    if (s.maxLoad > 0) {
      const load = this.load();
      if (load > s.maxLoad) return refused('load', ` LOAD:${load}`, s);
    }
    const keys = limitKeys(remoteIp);
    if (s.maxConnIp !== null && this.table.ipCount(keys) >= s.maxConnIp) {
      return refused('ip', ` MAXCONNIP:${s.maxConnIp}`, s);
    }
    if (s.maxConnNet !== null && this.table.netCount(keys) >= s.maxConnNet) {
      return refused('net', ` MAXCONNC:${s.maxConnNet}`, s);
    }
    if (s.maxRate !== null && !this.rates.take(keys.ip, s.maxRate)) {
      return refused('rate', ` MAXRATEIP:${formatRate(s.maxRate)}`, s);
    }
    return { admit: true, admission: this.table.admit(keys) };
  }

  status(): LimitsStatus {
    return { ...this.table.counts(), rateEntries: this.rates.size, delayed: this.closer.pending };
  }

  /** At most `limit` entries of each table: most connections first, smallest share of the rate left first. */
  detail(limit: number): LimitsDetail {
    return {
      addresses: this.table.busiestAddresses(limit),
      networks: this.table.busiestNetworks(limit),
      rates: this.rates.hottest(limit),
    };
  }
}
