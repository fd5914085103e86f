import type { ServiceError } from '@grpc/grpc-js';
import { ErrorInfo, RetryInfo } from '@taskmesh/gen/google/rpc/error_details.js';
import { statusDetailsOf } from '@taskmesh/runtime/errors';

/** The error a call fails with; fails the test if it succeeds. */
export async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/** Seconds of the google.rpc.RetryInfo detail, if any. */
export function retryDelayOf(err: ServiceError): number | undefined {
  const retry = statusDetailsOf(err)?.details.find((d) => d.typeUrl.endsWith('google.rpc.RetryInfo'));
  return retry ? Number(RetryInfo.decode(retry.value).retryDelay?.seconds) : undefined;
}

/** The google.rpc.ErrorInfo reason, if any. */
export function reasonOf(err: ServiceError): string | undefined {
  const info = statusDetailsOf(err)?.details.find((d) => d.typeUrl.endsWith('google.rpc.ErrorInfo'));
  return info ? ErrorInfo.decode(info.value).reason : undefined;
}
