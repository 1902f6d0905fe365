import type { Metadata } from "next";
import { RestoreWizard } from "./restore-wizard";

export const metadata: Metadata = { title: "Restore" };

export default async function Page({ params }: { params: Promise<{ restorePointId: string }> }) {
  const { restorePointId } = await params;
  return <RestoreWizard restorePointId={restorePointId} />;
}
