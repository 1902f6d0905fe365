import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { HeaderActions } from "@/components/shell/header-actions";
import { MobileNav } from "@/components/shell/mobile-nav";
import { Sidebar } from "@/components/shell/sidebar";
import { currentSession } from "@/server/app";
import { TRPCReactProvider } from "@/trpc/react";

export const dynamic = "force-dynamic";

/** Every page behind sign-in. */
export default async function AppLayout({ children }: { children: React.ReactNode }) {
  const session = await currentSession(await headers());
  if (!session) redirect("/login");
  const user = session.user as typeof session.user & { role?: string | null };
  return (
    <TRPCReactProvider>
      <div className="flex min-h-screen">
        <aside className="hidden w-60 shrink-0 border-r border-slate-200 bg-white md:block">
          <Sidebar siteAdmin={user.role === "admin"} />
        </aside>
        <div className="flex min-w-0 flex-1 flex-col">
          <header className="flex h-14 items-center justify-end border-b border-slate-200 bg-white px-4 sm:px-6">
            <MobileNav siteAdmin={user.role === "admin"} />
            <HeaderActions name={user.name} email={user.email} />
          </header>
          <main className="flex-1 px-4 py-6 sm:px-6">{children}</main>
        </div>
      </div>
    </TRPCReactProvider>
  );
}
