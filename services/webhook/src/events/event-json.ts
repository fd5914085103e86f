import { readFileSync } from 'node:fs';
import { createFileRegistry, fromBinary, toJson, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import type { EventEnvelope } from '@taskmesh/runtime/events/envelope';
import { DESCRIPTOR_PATH } from '../descriptor-path.ts';


let registry: FileRegistry | undefined;

/** The descriptor set `npm run generate` writes: payloads become the same JSON the REST edge speaks. */
function eventRegistry(): FileRegistry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(DESCRIPTOR_PATH)));
  return registry;
}

/** The delivery body of an event (API.md): `{id, type, organization, actor, resource, occurTime, data}`. */
export function deliveryBodyOf(event: EventEnvelope): string {
  const schema = eventRegistry().getMessage(event.type);
  const data = schema ? toJson(schema, fromBinary(schema, event.payload), { registry: eventRegistry() }) : {};
  return JSON.stringify({
    id: event.id,
    type: event.type,
    organization: event.organization,
    actor: event.actor,
    resource: event.resource,
    occurTime: event.occurTime.toISOString(),
    data,
  });
}

/** Every org-scoped domain event type an endpoint can subscribe to: the messages of each service's events.proto. */
export function subscribableEventTypes(): string[] {
  const types: string[] = [];
  for (const file of eventRegistry().files) {
    if (!/^taskmesh\/(org|board|task)\/v1\/events$/.test(file.name)) continue;
    for (const message of file.messages) types.push(message.typeName);
  }
  return types.sort();
}
