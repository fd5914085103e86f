/**
 * Percent-decoding as Envoy's transcoder does it with the settings envoy.yaml uses:
 * path variables with url_unescape_spec ALL_CHARACTERS_EXCEPT_RESERVED (an escaped RFC 6570 reserved
 * character such as `%2F` stays escaped, so a variable cannot smuggle in a `/`), query parameters fully
 * decoded with query_param_unescape_plus (a `+` is a space, as HTML forms and URLSearchParams send it).
 */

const reserved = new Set(":/?#[]@!$&'()*+,;=".split('').map((c) => c.charCodeAt(0)));
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8 = new TextEncoder();

export class MalformedEscapeError extends Error {
  constructor(text: string) {
    super(`malformed percent-encoding in ${JSON.stringify(text)}`);
    this.name = 'MalformedEscapeError';
  }
}

function decode(text: string, keepReserved: boolean, plusIsSpace: boolean): string {
  if (!text.includes('%') && !(plusIsSpace && text.includes('+'))) return text;
  const bytes: number[] = [];
  for (const [token] of text.matchAll(/%[0-9A-Fa-f]{2}|\+|[^%+]+|%/g)) {
    if (token.length === 3 && token.startsWith('%')) {
      const byte = parseInt(token.slice(1), 16);
      if (keepReserved && reserved.has(byte)) bytes.push(...utf8.encode(token));
      else bytes.push(byte);
    } else if (token === '+' && plusIsSpace) {
      bytes.push(0x20);
    } else {
      bytes.push(...utf8.encode(token));
    }
  }
  try {
    return strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    throw new MalformedEscapeError(text);
  }
}

/** Decodes one path part bound to a variable, leaving escaped reserved characters escaped. */
export function unescapePathPart(part: string): string {
  return decode(part, true, false);
}

/** Decodes a query parameter name or value completely; `+` means space. */
export function unescapeQueryComponent(text: string): string {
  return decode(text, false, true);
}
