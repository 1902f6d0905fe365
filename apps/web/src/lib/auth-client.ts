import { adminClient, organizationClient } from "better-auth/client/plugins";
import { createAuthClient } from "better-auth/react";

/** Browser side of better-auth (same origin: /api/auth). */
export const authClient = createAuthClient({ plugins: [adminClient(), organizationClient()] });
