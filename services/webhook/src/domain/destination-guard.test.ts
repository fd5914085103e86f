import { describe, expect, it } from 'vitest';
import { AllowedHosts, destinationOf, isForbiddenAddress } from './destination-guard.ts';

describe('destination guard', () => {
  it.each(['127.0.0.1', '10.1.2.3', '169.254.169.254', '192.168.0.1', '172.16.5.5', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00:ec2::254', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe'])(
    'refuses %s',
    (address) => expect(isForbiddenAddress(address)).toBe(true),
  );
  it.each(['93.184.216.34', '2606:4700::1111', '::ffff:93.184.216.34'])('accepts the public address %s', (address) =>
    expect(isForbiddenAddress(address)).toBe(false),
  );
  it('accepts http only for allowed hosts, matching the port when one is listed', () => {
    const allowed = new AllowedHosts('127.0.0.1:8080, hooks.local');
    expect(destinationOf('http://127.0.0.1:8080/x', allowed)).toMatchObject({ allowed: true });
    expect(destinationOf('http://127.0.0.1:9090/x', allowed)).toEqual({ problem: 'must be an https URL' });
    expect(destinationOf('http://hooks.local:1234/', allowed)).toMatchObject({ allowed: true });
    expect(destinationOf('https://example.com/', allowed)).toMatchObject({ allowed: false });
    expect(destinationOf('ftp://example.com/', allowed)).toEqual({ problem: 'must be an https URL' });
    expect(destinationOf('https://u:p@example.com/', allowed)).toEqual({ problem: 'must not carry credentials' });
  });
});
