import type { ServiceError } from '@grpc/grpc-js';
import { BadRequest, ErrorInfo, RetryInfo } from '@taskmesh/gen/google/rpc/error_details.js';
import { statusDetailsOf } from '../errors.ts';

/** The gRPC code a call ends with: 0 (OK), or the code of its ServiceError or DomainError; other errors are rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (err) {
    const code = (err as ServiceError).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

/** The error a call fails with; throws when it succeeds. */
export async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/** The `google.rpc.ErrorInfo` reason in an error's status details. */
export function reasonOf(err: ServiceError): string | undefined {
  const info = statusDetailsOf(err)?.details.find((d) => d.typeUrl.endsWith('google.rpc.ErrorInfo'));
  return info ? ErrorInfo.decode(info.value).reason : undefined;
}

/** The fields named by the `google.rpc.BadRequest` in an error's status details. */
export function violationsOf(err: ServiceError): string[] {
  const bad = statusDetailsOf(err)?.details.find((d) => d.typeUrl.endsWith('google.rpc.BadRequest'));
  return bad ? BadRequest.decode(bad.value).fieldViolations.map((v) => v.field) : [];
}

/** Seconds of the `google.rpc.RetryInfo` in an error's status details. */
export function retryDelayOf(err: ServiceError): number | undefined {
  const retry = statusDetailsOf(err)?.details.find((d) => d.typeUrl.endsWith('google.rpc.RetryInfo'));
  return retry ? Number(RetryInfo.decode(retry.value).retryDelay?.seconds) : undefined;
}
