export * from "./errors";
export * from "./tls";
