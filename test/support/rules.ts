// A rules cdb from rules text, as tcprules would write it, for tests that need a rules file.
import { writeFileSync } from 'node:fs';
import { makeCdb } from '../../src/cdb/writer';
import { parseRules } from '../../src/rules/parse';

export function rulesCdb(text: string): Buffer {
  return makeCdb(parseRules(text).map((r) => [Buffer.from(r.key, 'latin1'), Buffer.from(r.data, 'latin1')] as const));
}

export function writeRulesCdb(path: string, text: string): string {
  writeFileSync(path, rulesCdb(text));
  return path;
}
