// The only Node.js global the program needs beyond what the DOM library
// declares (fetch, URL, console, crypto). Declaring it here keeps the example
// off @types/node, which this folder does not pin: it arrives only as a
// dependency of the other tools, at whatever version they pull in.
declare const process: {
  readonly env: Readonly<Record<string, string | undefined>>;
  exitCode: number | undefined;
};
