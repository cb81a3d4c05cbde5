"""Jobs and questions, and the basic staff commands (/help, /jobs, /questions, /newjob,
/progress, /bind, /grant, /revoke). Declared in ``staff.FEATURE``."""
