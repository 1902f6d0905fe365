import type { Metadata } from "next";
import { CatalogPage, type CatalogParams } from "./catalog-page";

export const metadata: Metadata = { title: "Restore points" };

export default async function Page({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | undefined>>;
}) {
  const p = await searchParams;
  const initial: CatalogParams = {
    q: p.q ?? "",
    vm: p.vm ?? "",
    disk: p.disk ?? "",
    engine: p.engine ?? "",
    from: p.from ?? "",
    to: p.to ?? "",
    state: p.state ?? "",
    verify: p.verify ?? "",
    mode: p.mode ?? "",
    tag: p.tag ?? "",
    sort: p.sort ?? "newest",
  };
  return <CatalogPage initial={initial} />;
}
