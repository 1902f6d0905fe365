import type { Metadata } from "next";
import { PointPage } from "./point-page";

export const metadata: Metadata = { title: "Restore point" };

export default async function Page({ params }: { params: Promise<{ restorePointId: string }> }) {
  const { restorePointId } = await params;
  return <PointPage id={restorePointId} />;
}
