import type { Command } from 'commander';
import { InvalidInputError } from '../../shared/errors';

/** Each command path (`""`, `points`, `drill schedule`...) with the words that may follow it: subcommands and options. */
export function completionWords(program: Command): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (cmd: Command, path: string[]) => {
    const subs = cmd.commands.map((c) => c.name());
    const opts = cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x));
    out.set(path.join(' '), [...subs, ...opts, '--help']);
    for (const c of cmd.commands) walk(c, [...path, c.name()]);
  };
  walk(program, []);
  return out;
}

/**
 * A bash completion script for the command tree (zsh loads it through bashcompinit): commands and
 * subcommands, their options, and file names where nothing else fits (plan files).
 */
export function bashCompletion(program: Command): string {
  const name = program.name();
  const cases = [...completionWords(program)].map(([path, words]) => `    "${path}") echo "${words.join(' ')}" ;;`).join('\n');
  return `# ${name} completion: source <(${name} completion bash), or for zsh: source <(${name} completion zsh)
_${name}_words() {
  case "$1" in
${cases}
  esac
}
_${name}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ $w == -* ]] && continue
    case " $(_${name}_words "$path") " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  COMPREPLY=($(compgen -W "$(_${name}_words "$path")" -- "$cur"))
  if [[ \${#COMPREPLY[@]} -eq 0 && $cur != -* ]]; then COMPREPLY=($(compgen -f -- "$cur")); fi
}
complete -o filenames -F _${name} ${name}
`;
}

export function registerCompletionCommand(program: Command): void {
  program
    .command('completion <shell>')
    .description('print the shell completion script: bash or zsh')
    .action((shell: string) => {
      if (shell === 'bash') process.stdout.write(bashCompletion(program));
      else if (shell === 'zsh') process.stdout.write(`autoload -U +X bashcompinit && bashcompinit\n${bashCompletion(program)}`);
      else throw new InvalidInputError(`shell: expected bash or zsh, got ${JSON.stringify(shell)}`);
    });
}
