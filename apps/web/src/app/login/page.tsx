import type { Metadata } from "next";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { Logo } from "@/components/logo";
import { currentSession, oidcSignIn } from "@/server/app";
import { LoginForm } from "./login-form";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

/** Why single sign-on sent the user back, in words. */
const SSO_ERRORS: Record<string, string> = {
  signup_disabled:
    "Your single sign-on account has no Lifeboat account yet. Ask a site administrator to create it.",
  account_not_linked: "That e-mail belongs to a Lifeboat account that cannot be linked to single sign-on.",
  email_not_verified: "Your identity provider has not verified your e-mail address.",
};

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ error?: string }> }) {
  if (await currentSession(await headers())) redirect("/");
  const { error } = await searchParams;
  const oidc = oidcSignIn();
  const ssoError = error ? (SSO_ERRORS[error] ?? "Single sign-on did not complete. Try again.") : null;
  return (
    <main className="flex min-h-screen items-center justify-center px-4">
      <div className="w-full max-w-sm">
        <div className="mb-8 flex flex-col items-center gap-3 text-center">
          <Logo className="h-12 w-12 text-brand-600" />
          <h1 className="text-2xl font-semibold tracking-tight">Sign in to Lifeboat</h1>
          <p className="text-sm text-slate-500">Backup and restore for your oVirt virtual machines.</p>
        </div>
        <LoginForm sso={oidc ? { name: oidc.name } : null} ssoError={ssoError} />
      </div>
    </main>
  );
}
