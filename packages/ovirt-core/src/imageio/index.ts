export type { ImageioExtent } from "@lifeboat/ovirt-protocol";
export type { DownloadOptions } from "./download";
export { ImageioError } from "./errors";
export { type FileSinkResult, writeSegmentsToFile } from "./file";
export { guestSegments } from "./guest-segments";
export { type ImageFileUpload, openImageFileUpload, type TransferFormat } from "./image-file";
export { ImageioTicket, openImageio, parseExtents } from "./ticket";
export * from "./types";
export { FileSegments, type UploadOptions, type UploadResult } from "./upload";
