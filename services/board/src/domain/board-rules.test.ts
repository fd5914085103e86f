import { describe, expect, it } from 'vitest';
import { AbortedError, InvalidArgumentError } from '@taskmesh/runtime/errors';
import { assertFreshEtag, displayNameViolation, etagOf, fieldsToUpdate, requestIdOf } from './board-rules.ts';

describe('board rules', () => {
  it('display names are 1 to 200 characters after trimming, counted as code points', () => {
    expect(displayNameViolation('  ', 'f')?.description).toBe('must not be empty');
    expect(displayNameViolation('x'.repeat(200), 'f')).toBeUndefined();
    expect(displayNameViolation('😀'.repeat(200), 'f')).toBeUndefined();
    expect(displayNameViolation('x'.repeat(201), 'f')?.field).toBe('f');
  });

  it('an update mask names writable fields only; without one, the fields sent are updated', () => {
    const writable = ['display_name', 'description'] as const;
    expect(fieldsToUpdate(['displayName'], writable, { display_name: false, description: false })).toEqual(['display_name']);
    expect(fieldsToUpdate([], writable, { display_name: true, description: false })).toEqual(['display_name']);
    expect(() => fieldsToUpdate(['etag'], writable, { display_name: true, description: true })).toThrow(InvalidArgumentError);
    expect(() => fieldsToUpdate(['create_time'], writable, { display_name: true, description: true })).toThrow(InvalidArgumentError);
  });

  it('a stale etag aborts; an empty one skips the check', () => {
    expect(() => assertFreshEtag(etagOf(3), 4, 'the board')).toThrow(AbortedError);
    expect(() => assertFreshEtag('', 4, 'the board')).not.toThrow();
    expect(() => assertFreshEtag(etagOf(4), 4, 'the board')).not.toThrow();
  });

  it('request ids are UUIDs', () => {
    expect(requestIdOf('')).toBeUndefined();
    expect(requestIdOf('6F9619FF-8B86-4011-B42D-00C04FC964FF')).toBe('6f9619ff-8b86-4011-b42d-00c04fc964ff');
    expect(() => requestIdOf('retry-1')).toThrow(InvalidArgumentError);
  });
});
