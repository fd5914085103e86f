import { describe, expect, it } from 'vitest';
import { linkBaseDefaults } from '../src/stack.ts';

describe('link base defaults of npm start', () => {
  it('points mail and share links at EDGE_PORT when only the port is set', () => {
    expect(linkBaseDefaults({ EDGE_PORT: '9090' })).toEqual({
      APP_BASE_URL: 'http://127.0.0.1:9090',
      SHARE_LINK_BASE_URL: 'http://127.0.0.1:9090',
    });
  });

  it('keeps URLs the operator set, and leaves the defaults alone without a fixed port', () => {
    expect(linkBaseDefaults({ EDGE_PORT: '9090', APP_BASE_URL: 'https://tasks.example.com' })).toEqual({
      SHARE_LINK_BASE_URL: 'http://127.0.0.1:9090',
    });
    expect(linkBaseDefaults({})).toEqual({});
    expect(linkBaseDefaults({ EDGE_PORT: '0' })).toEqual({});
    expect(linkBaseDefaults({ EDGE_PORT: 'eighty' })).toEqual({});
  });
});
