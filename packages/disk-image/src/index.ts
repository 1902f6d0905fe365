export * from "./chain";
export * from "./io";
export * from "./qcow2";
