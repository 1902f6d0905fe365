import type { Metadata } from "next";
import { PolicyPage } from "./policy-page";

export const metadata: Metadata = { title: "Policy" };

export default async function Page({ params }: { params: Promise<{ policyId: string }> }) {
  const { policyId } = await params;
  return <PolicyPage policyId={policyId} />;
}
