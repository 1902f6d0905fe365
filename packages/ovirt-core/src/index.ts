export * from "./chain";
export * from "./engine";
export * from "./flows";
export * from "./imageio";
export * from "./io";
export * from "./ovf";
export * from "./qcow2";
