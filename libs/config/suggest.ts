/**
 * The known word closest to a mistyped one, for "did you mean" hints. An abbreviation ("plugin_dir",
 * "plugin_file_perms": the letters in order, same first letter) beats a typo; a typo must be a short edit away.
 */
export function closest(word: string, known: readonly string[]): string | undefined {
  const byDistance = (a: string, b: string) => editDistance(word, a) - editDistance(word, b);
  const abbreviated = known.filter((candidate) => abbreviates(word, candidate)).sort(byDistance);
  if (abbreviated.length > 0) return abbreviated[0];
  const near = known.filter((candidate) => editDistance(word, candidate) <= Math.max(2, Math.floor(candidate.length / 4)));
  return near.sort(byDistance)[0];
}

export function didYouMean(word: string, known: readonly string[]): string {
  const suggestion = closest(word, known);
  return suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
}

function abbreviates(word: string, candidate: string): boolean {
  if (word.length < 3 || word.length >= candidate.length || word[0] !== candidate[0]) return false;
  let next = 0;
  for (const letter of candidate) if (letter === word[next]) next++;
  return next === word.length;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}
