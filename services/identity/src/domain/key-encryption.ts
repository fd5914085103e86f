// The KEK primitive lives in the runtime (the webhook service seals its signing secrets with it too).
export * from '@taskmesh/runtime/key-encryption';
