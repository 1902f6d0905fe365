import { connectionTestView, engineTestRequest, requireActor, testEngineConnection } from "@lifeboat/domain";
import { procedure } from "../../trpc";

export const enginesTestInput = engineTestRequest;

/**
 * Tries the connection: log in, read the API version, clusters and storage domains. For a saved engine tested
 * as saved, the outcome is also recorded on it (last check, last error). Another URL, CA or TLS setting than
 * the saved ones needs the password again.
 */
export const testConnection = procedure
  .meta({ permission: "site:engines" })
  .input(enginesTestInput)
  .output(connectionTestView)
  .mutation(({ ctx, input }) => testEngineConnection(ctx, requireActor(ctx), input));
