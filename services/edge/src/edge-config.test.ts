import { describe, expect, it } from 'vitest';
import { EdgeConfigError, readEdgeConfig } from './edge-config.ts';

describe('readEdgeConfig', () => {
  it('defaults to port 8080 on all interfaces with no upstreams', () => {
    expect(readEdgeConfig({})).toMatchObject({ port: 8080, host: '0.0.0.0', upstreams: {}, bodyLimitBytes: 1048576, deadlineMs: 15000 });
  });

  it('maps one address variable per service and reads CORS origins', () => {
    const config = readEdgeConfig({ IDENTITY_ADDR: '127.0.0.1:50051', BOARD_ADDR: 'board:50051', EDGE_PORT: '9090', EDGE_CORS_ORIGINS: 'https://a.example, https://b.example' });
    expect(config.upstreams).toEqual({ 'taskmesh.identity.v1.IdentityService': '127.0.0.1:50051', 'taskmesh.board.v1.BoardService': 'board:50051' });
    expect(config.port).toBe(9090);
    expect(config.cors).toEqual({ allowOrigins: ['https://a.example', 'https://b.example'] });
  });

  it('names the variable that is wrong', () => {
    expect(() => readEdgeConfig({ EDGE_PORT: 'eighty' })).toThrow(/EDGE_PORT/);
    expect(() => readEdgeConfig({ ORG_ADDR: 'no port' })).toThrow(EdgeConfigError);
  });
});
