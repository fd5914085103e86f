// protoc plugin entry point: buf generate runs this (through tsx) to write the typed REST client.
import { runNodeJs } from '@bufbuild/protoplugin';
import { restClientPlugin } from './rest-client-plugin.ts';

runNodeJs(restClientPlugin);
