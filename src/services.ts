// Port operands: all digits (the empty string included) is a number truncated to 16 bits, as
// 0.88's scan_ulong into a uint16; otherwise a TCP service name from the services database, which is
// what getservbyname(name, "tcp") reads through NSS "files".
import { readFileSync } from 'node:fs';
import { allDigits, scanNumber } from './scan';

let table: Map<string, number> | undefined;

function servicesTable(path = '/etc/services'): Map<string, number> {
  if (table) return table;
  table = new Map();
  let text = '';
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return table;
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/tcp$/.exec(portProto ?? '');
    if (!m) continue;
    const port = Number(m[1]);
    for (const n of [name, ...aliases]) if (!table.has(n)) table.set(n, port);
  }
  return table;
}

/** The port for a port operand, or null when it is a name the services database does not know. */
export function portForOperand(operand: string): number | null {
  if (allDigits(operand)) return scanNumber(operand, 16);
  return servicesTable().get(operand) ?? null;
}
