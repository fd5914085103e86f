import { getComments } from '@bufbuild/protoplugin';
import type { AnyDesc, DescFile } from '@bufbuild/protobuf';

/** The leading proto comment of an element as plain text (no comment markers), or "" when there is none. */
export function protoDoc(desc: Exclude<AnyDesc, DescFile>): string {
  const leading = getComments(desc).leading;
  if (!leading) return '';
  return leading
    .split('\n')
    .map((line) => (line.startsWith(' ') ? line.slice(1) : line).trimEnd())
    .join('\n')
    .trim();
}
