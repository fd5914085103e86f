import type { ServiceDefinition } from '@grpc/grpc-js';
import { TaskServiceService, type GetTaskResponse, type ListTasksResponse } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { EncodedMessage } from '../db/task-bytes.ts';

/**
 * TaskService as this server registers it: the generated grpc-js definition, except that ListTasks and GetTask
 * may answer with an EncodedMessage, whose bytes (made from the rows by db/task-bytes.ts, equal to ts-proto's
 * encoding of the same response) grpc-js sends as they are. A plain response object is still encoded by
 * ts-proto. Only the server side changes: requests, clients and the other methods are the generated ones.
 *
 * The response types widen through `responseDeserialize`, which is where the runtime's handler types read
 * them from; the server never calls it.
 */
function passingEncoded<Req, Res>(method: {
  path: string;
  requestStream: false;
  responseStream: false;
  requestSerialize: (value: Req) => Buffer;
  requestDeserialize: (value: Buffer) => Req;
  responseSerialize: (value: Res) => Buffer;
  responseDeserialize: (value: Buffer) => Res;
}) {
  return {
    ...method,
    responseSerialize: (value: Res | EncodedMessage): Buffer =>
      value instanceof EncodedMessage ? value.bytes : method.responseSerialize(value),
    responseDeserialize: method.responseDeserialize as (value: Buffer) => Res | EncodedMessage,
  };
}

export const taskServiceDefinition = {
  ...TaskServiceService,
  getTask: passingEncoded<Parameters<typeof TaskServiceService.getTask.requestSerialize>[0], GetTaskResponse>(TaskServiceService.getTask),
  listTasks: passingEncoded<Parameters<typeof TaskServiceService.listTasks.requestSerialize>[0], ListTasksResponse>(
    TaskServiceService.listTasks,
  ),
} satisfies ServiceDefinition;

export type TaskServiceDefinition = typeof taskServiceDefinition;
