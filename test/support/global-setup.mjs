// Jest loads global setup outside its ESM test runtime; tsx's loader lets it run the TypeScript implementation.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { default: setup } = await tsImport('./global-setup.ts', import.meta.url);
  await setup();
}
