/** The readable message of anything a provider or tool threw (ApiError, CommandError, a filesystem error...). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
