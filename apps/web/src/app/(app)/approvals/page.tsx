import type { Metadata } from "next";
import { ApprovalsPage } from "./approvals-page";

export const metadata: Metadata = { title: "Approvals" };

export default async function Page({ searchParams }: { searchParams: Promise<{ id?: string }> }) {
  const { id } = await searchParams;
  return <ApprovalsPage focusId={typeof id === "string" ? id : undefined} />;
}
