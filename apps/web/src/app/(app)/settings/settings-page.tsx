"use client";

import { usePathname, useRouter } from "next/navigation";
import { useMe } from "@/components/shell/use-me";
import { EmptyState } from "@/components/ui/empty-state";
import { PageHeader } from "@/components/ui/page-header";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "@/components/ui/tabs";
import { EnginesTab } from "./engines-tab";
import { RepositoryTab } from "./repository-tab";

export function SettingsPage({ tab }: { tab: "engines" | "repository" }) {
  const { me } = useMe();
  const router = useRouter();
  const pathname = usePathname();
  if (me.data && !me.data.siteAdmin)
    return (
      <div className="mx-auto max-w-5xl space-y-5">
        <PageHeader title="Settings" />
        <EmptyState title="Settings are for site administrators.">
          Engines and the repository are shared by every team. Ask a site administrator if an engine is
          missing.
        </EmptyState>
      </div>
    );
  return (
    <div className="mx-auto max-w-6xl space-y-5">
      <PageHeader
        title="Settings"
        description="The oVirt engines Lifeboat works with, and where the backups live."
      />
      <Tabs value={tab} onValueChange={(v) => router.replace(`${pathname}?tab=${v}`, { scroll: false })}>
        <TabsList aria-label="Settings">
          <TabsTrigger value="engines">Engines</TabsTrigger>
          <TabsTrigger value="repository">Repository</TabsTrigger>
        </TabsList>
        <TabsContent value="engines">
          <EnginesTab />
        </TabsContent>
        <TabsContent value="repository">
          <RepositoryTab />
        </TabsContent>
      </Tabs>
    </div>
  );
}
