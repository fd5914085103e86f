import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadBoardConfig } from './config.ts';
import { boardMigrations } from './db/migrations/index.ts';
import { BOARD_SERVICE_NAME, startBoard, type BoardDeps, type RunningBoard } from './server.ts';

/** The board service as the stack builder composes it (npm start, tests, bench). */
export const boardService: ServiceDescriptor<RunningBoard> = {
  name: 'board',
  grpcService: BOARD_SERVICE_NAME,
  defaultPort: 50053,
  entryPoint: 'services/board/src/main.ts',
  migrations: boardMigrations,
  start: ({ env, log, bus, inject }) => startBoard({ config: loadBoardConfig(env), log, bus, ...(inject as Partial<BoardDeps>) }),
};
