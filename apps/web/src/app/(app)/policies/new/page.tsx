import type { Metadata } from "next";
import { PageHeader } from "@/components/ui/page-header";
import { PolicyForm } from "../_components/policy-form";

export const metadata: Metadata = { title: "New policy" };

export default function Page() {
  return (
    <div className="mx-auto max-w-4xl space-y-6">
      <PageHeader
        title="New policy"
        description="The policy starts once another approver of the team approves it."
      />
      <PolicyForm />
    </div>
  );
}
