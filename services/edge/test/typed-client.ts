import { ApiError, createClient, type TaskmeshClient } from '../../../gen/client/index.ts';

/** Tests of the REST surface through the generated client (board, task, audit REST tests). */

let counter = 0;

/** Signs a new user up through the edge at `baseUrl`; their client, access token, e-mail and user name. */
export async function signUpAs(baseUrl: string, label: string): Promise<{ api: TaskmeshClient; token: string; email: string; user: string }> {
  const email = `${label}-${++counter}-${Date.now()}@example.com`;
  const res = await createClient({ baseUrl }).identity.signUp({ email, password: 'correct horse battery', displayName: label });
  return { api: createClient({ baseUrl, token: res.accessToken }), token: res.accessToken, email, user: res.user!.name };
}

/** The ApiError a call fails with; fails the test if the call succeeds or fails otherwise. */
export async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}
