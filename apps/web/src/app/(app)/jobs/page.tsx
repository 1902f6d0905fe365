import type { Metadata } from "next";
import { JobsPage } from "./jobs-page";

export const metadata: Metadata = { title: "Jobs" };

export default async function Page({
  searchParams,
}: {
  searchParams: Promise<{ state?: string; type?: string }>;
}) {
  const p = await searchParams;
  return <JobsPage initialState={p.state ?? ""} initialType={p.type ?? ""} />;
}
