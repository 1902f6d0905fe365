import type { Metadata } from "next";
import { JobPage } from "./job-page";

export const metadata: Metadata = { title: "Job" };

export default async function Page({ params }: { params: Promise<{ jobId: string }> }) {
  const { jobId } = await params;
  return <JobPage jobId={jobId} />;
}
