/** Writes a sweep's report.html from its data (report-data.ts), atomically. */
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic.ts";
import { renderSweepReport, type SweepReportData } from "../report/sweep-report.ts";

export function writeSweepReport(dir: string, data: SweepReportData): void {
  writeFileAtomic(join(dir, "report.html"), renderSweepReport(data));
}
