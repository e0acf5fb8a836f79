import type {
	IAuthenticateGeneric,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

// OpenProject API v3 authenticates an API key as HTTP basic auth with the user name "apikey".
export class OpenProjectApi implements ICredentialType {
	name = 'openProjectApi';

	displayName = 'OpenProject API';

	icon = 'file:openProject.svg' as const;

	documentationUrl = 'https://www.openproject.org/docs/api/introduction/';

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: '',
			placeholder: 'https://openproject.example.com',
			description: 'The address of the OpenProject instance, without /api/v3',
			required: true,
		},
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'Created under My account → Access tokens → API',
			required: true,
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			auth: {
				username: 'apikey',
				password: '={{ $credentials.apiKey }}',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL: '={{ $credentials.baseUrl.replace(/\\/+$/, "") }}',
			url: '/api/v3/users/me',
		},
	};
}
