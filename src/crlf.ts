// The three CR/LF rewrites of ucspi-tcp as streaming byte filters with fixed-size output:
// addcr (CR before every LF), delcr (drop a CR right before LF), fixcrio (CR before a LF that has
// none). Each filter keeps at most one byte of state between chunks, so a stream of any length goes
// through constant memory.

const CR = 13;
const LF = 10;

export interface ByteFilter {
  /** Rewrite chunk into out from offset 0; returns the byte count. out must hold maxOutput(chunk.length). */
  push(chunk: Buffer, out: Buffer): number;
  /** Bytes held back at end of input (delcr's trailing CR) into out; returns the count. */
  finish(out: Buffer): number;
}

/** Output bound of every filter here for n input bytes (a CR per byte plus one held byte). */
export function maxOutput(n: number): number {
  return 2 * n + 1;
}

/** Copy chunk to out with a CR before each LF for which needsCr(index of the LF) holds. */
function insertCrBeforeLf(chunk: Buffer, out: Buffer, needsCr: (lf: number) => boolean): number {
  let o = 0;
  let from = 0;
  for (;;) {
    const lf = chunk.indexOf(LF, from);
    if (lf < 0) break;
    o += chunk.copy(out, o, from, lf);
    if (needsCr(lf)) out[o++] = CR;
    out[o++] = LF;
    from = lf + 1;
  }
  return o + chunk.copy(out, o, from);
}

/** addcr: every LF becomes CR LF, even one already preceded by CR. */
export class AddCr implements ByteFilter {
  push(chunk: Buffer, out: Buffer): number {
    return insertCrBeforeLf(chunk, out, () => true);
  }

  finish(): number {
    return 0;
  }
}

/** fixcrio: a CR goes before each LF not already preceded by CR; "previous was CR" spans chunks. */
export class FixCr implements ByteFilter {
  private lastWasCr = false;

  push(chunk: Buffer, out: Buffer): number {
    if (chunk.length === 0) return 0;
    const o = insertCrBeforeLf(chunk, out, (lf) => (lf === 0 ? !this.lastWasCr : chunk[lf - 1] !== CR));
    this.lastWasCr = chunk[chunk.length - 1] === CR;
    return o;
  }

  finish(): number {
    return 0;
  }
}

/** delcr: CR LF becomes LF; any other CR stays, including one at the very end of input. */
export class DelCr implements ByteFilter {
  private heldCr = false;

  push(chunk: Buffer, out: Buffer): number {
    const end = chunk.length;
    if (end === 0) return 0;
    let o = 0;
    let i = 0;
    if (this.heldCr) {
      if (chunk[0] !== LF) out[o++] = CR;
      this.heldCr = false;
    }
    while (i < end) {
      const cr = chunk.indexOf(CR, i);
      if (cr < 0) return o + chunk.copy(out, o, i);
      o += chunk.copy(out, o, i, cr);
      if (cr + 1 === end) {
        this.heldCr = true;
        break;
      }
      if (chunk[cr + 1] !== LF) out[o++] = CR;
      i = cr + 1;
    }
    return o;
  }

  finish(out: Buffer): number {
    if (!this.heldCr) return 0;
    this.heldCr = false;
    out[0] = CR;
    return 1;
  }
}
