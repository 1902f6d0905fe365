import type { TestProject } from "vitest/node";
import { startTestDatabaseServer } from "./testing";

/** vitest globalSetup: one migrated template database per test run (see testing.ts). */
export default async function setup(project: TestProject) {
  const server = await startTestDatabaseServer();
  project.provide("testDatabase", { adminUrl: server.adminUrl, template: server.template });
  return () => server.teardown();
}
