import { CdbReader } from '../cdb/reader';
import { errorText } from '../errstr';
import { Diagnostics, writeAll } from '../messages';
import { rawArgs, rawEnv } from '../rawproc';
import { lookupRules, ruleEntries } from '../rules/lookup';

/** tcprulescheck's report of a rule, as 0.88 prints it: it stops at the first deny entry. */
export function describeRule(key: string | null, data: Buffer | null): string {
  if (key === null || data === null) return 'default:\nallow connection\n';
  let out = `rule ${key}:\n`;
  for (const entry of ruleEntries(data)) {
    if (entry[0] === 'D') return out + 'deny connection\n';
    if (entry[0] === '+') out += `set environment variable ${entry.slice(1)}\n`;
  }
  return out + 'allow connection\n';
}

export function main(): void {
  const diag = new Diagnostics('tcprulescheck', 'tcprulescheck rules.cdb');
  const [file] = rawArgs();
  if (file === undefined) diag.usage();
  let report: string;
  try {
    const reader = CdbReader.open(file);
    try {
      const match = lookupRules(reader, {
        ip: rawEnv('TCPREMOTEIP') ?? '0.0.0.0',
        host: rawEnv('TCPREMOTEHOST') ?? null,
        info: rawEnv('TCPREMOTEINFO') ?? null,
      });
      // a CIDR match is shown as the network it stands for (fehcom's tcprulescheck does the same)
      report = describeRule(match ? (match.network ?? match.key) : null, match?.data ?? null);
    } finally {
      reader.close();
    }
  } catch (err) {
    return diag.fatal(`unable to read ${file}: ${errorText(err)}`);
  }
  writeAll(1, report);
  process.exit(0);
}
