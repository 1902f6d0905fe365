import type { Metadata } from "next";
import { EditPolicy } from "./edit-policy";

export const metadata: Metadata = { title: "Change policy" };

export default async function Page({ params }: { params: Promise<{ policyId: string }> }) {
  const { policyId } = await params;
  return <EditPolicy policyId={policyId} />;
}
