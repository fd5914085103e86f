import { fileURLToPath } from 'node:url';

/** gen/descriptor.binpb, from src/ (the compiled image keeps this depth: dist/services/webhook/). */
export const DESCRIPTOR_PATH = fileURLToPath(new URL('../../../gen/descriptor.binpb', import.meta.url));
