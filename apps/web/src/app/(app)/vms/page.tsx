import type { Metadata } from "next";
import { VmsPage } from "./vms-page";

export const metadata: Metadata = { title: "VMs" };

export default async function Page({
  searchParams,
}: {
  searchParams: Promise<{ q?: string; protection?: string; engine?: string }>;
}) {
  const p = await searchParams;
  return (
    <VmsPage
      initial={{
        q: p.q ?? "",
        protection: p.protection === "protected" || p.protection === "unprotected" ? p.protection : "",
        engineId: p.engine ?? "",
      }}
    />
  );
}
