// OpenSnitch's rules folder as a folder picker gives it: every file under the folder, each with its
// path from the folder's parent. OpenSnitch reads only the *.json files directly in its rules folder,
// so those are the rules; anything else (backups, notes, subfolders' files) is counted, not read.

export interface RuleFolder {
  /** The folder's name, as the picker gives it. */
  name: string;
  rules: File[];
  /** Files in it that are not rules. */
  ignored: number;
}

/** The rule files of a picked folder, by name; null when the picker gave no files. */
export function ruleFolder(files: readonly File[]): RuleFolder | null {
  if (files.length === 0) return null;
  const rules: File[] = [];
  for (const file of files) {
    // "rules/000-allow.json": one separator, so the file lies directly in the folder.
    const depth = file.webkitRelativePath.split('/').length;
    if (depth <= 2 && file.name.endsWith('.json')) rules.push(file);
  }
  // In name order, as OpenSnitch reads them (the picker's order is its own).
  rules.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const name = files[0]!.webkitRelativePath.split('/')[0] || 'the folder';
  return { name, rules, ignored: files.length - rules.length };
}
