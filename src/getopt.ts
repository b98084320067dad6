// djb's sgetopt: clustered flags, attached or separate arguments, "--" (and any word starting
// with "--") ends the options and is consumed, a lone "-" ends them and is kept, no permutation.

export interface ParsedOption {
  readonly letter: string;
  /** The argument for letters declared with ':' in the option string. */
  readonly arg?: string;
}

export type GetoptProblem = { readonly kind: 'illegal'; readonly letter: string } | { readonly kind: 'missing'; readonly letter: string };

export interface GetoptResult {
  /** Options in command-line order, up to the first problem. */
  readonly options: ParsedOption[];
  /** Words after the options. */
  readonly operands: string[];
  readonly problem?: GetoptProblem;
}

export function getopt(args: readonly string[], optstring: string): GetoptResult {
  const takesArg = new Map<string, boolean>();
  for (let i = 0; i < optstring.length; i++) {
    const c = optstring[i];
    if (c === ':') continue;
    takesArg.set(c, optstring[i + 1] === ':');
  }
  const options: ParsedOption[] = [];
  let ind = 0;
  while (ind < args.length) {
    const word = args[ind];
    if (word[0] !== '-') break;
    if (word.length === 1) break;
    if (word[1] === '-') {
      ind++;
      break;
    }
    let pos = 1;
    let consumed = false;
    while (pos < word.length) {
      const letter = word[pos++];
      const wantsArg = takesArg.get(letter);
      if (wantsArg === undefined) {
        return { options, operands: args.slice(ind + 1), problem: { kind: 'illegal', letter } };
      }
      if (!wantsArg) {
        options.push({ letter });
        continue;
      }
      let arg = word.slice(pos);
      ind++;
      if (arg === '') {
        if (ind >= args.length) return { options, operands: [], problem: { kind: 'missing', letter } };
        arg = args[ind++];
      }
      options.push({ letter, arg });
      consumed = true;
      break;
    }
    if (!consumed) ind++;
  }
  return { options, operands: args.slice(ind) };
}

/** The line sgetopt prints for a problem, without the trailing newline. */
export function getoptProblemMessage(program: string, problem: GetoptProblem): string {
  return problem.kind === 'illegal'
    ? `${program}: illegal option -- ${problem.letter}`
    : `${program}: option requires an argument -- ${problem.letter}`;
}
