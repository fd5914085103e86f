// protoc plugin entry point: buf generate runs this (through tsx) to write gen/openapi/openapi.json.
import { runNodeJs } from '@bufbuild/protoplugin';
import { openApiPlugin } from './openapi-plugin.ts';

runNodeJs(openApiPlugin);
