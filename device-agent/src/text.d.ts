// Help texts are bundled as strings by esbuild's text loader.
declare module '*.txt' {
  const text: string;
  export default text;
}
