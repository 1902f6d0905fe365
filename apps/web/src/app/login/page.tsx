import type { Metadata } from "next";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { Logo } from "@/components/logo";
import { currentSession } from "@/server/app";
import { LoginForm } from "./login-form";

export const metadata: Metadata = { title: "Sign in" };
export const dynamic = "force-dynamic";

export default async function LoginPage() {
  if (await currentSession(await headers())) redirect("/");
  return (
    <main className="flex min-h-screen items-center justify-center px-4">
      <div className="w-full max-w-sm">
        <div className="mb-8 flex flex-col items-center gap-3 text-center">
          <Logo className="h-12 w-12 text-brand-600" />
          <h1 className="text-2xl font-semibold tracking-tight">Sign in to Lifeboat</h1>
          <p className="text-sm text-slate-500">Backup and restore for your oVirt virtual machines.</p>
        </div>
        <LoginForm />
      </div>
    </main>
  );
}
